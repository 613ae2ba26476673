"""The full export (导出全部数据): every record and file of the zone in one .zip, for a system administrator."""
