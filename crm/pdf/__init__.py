"""PDFs: print layouts (templates/pdf/) rendered by WeasyPrint in worker processes with a time limit.

- `fetcher`: the restricted URL fetcher (only static/ files and the record's own attachment thumbnails) and the
  in-process render function.
- `worker`: the loop a render process runs.
- `renderer`: the pool of render processes (a hung or crashed render is killed and its process replaced).
- `documents`: print templates to HTML in the reader's language, with the page header and footer.
"""
