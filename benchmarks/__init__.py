"""`make bench`: figures with a baseline measured in the same run, printed side by side."""
