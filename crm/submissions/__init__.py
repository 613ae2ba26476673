"""One-time submission keys: a create form submitted twice (a double click, back-and-resubmit, a retry after a
time-out) creates one record, and the second submission is shown that record."""
