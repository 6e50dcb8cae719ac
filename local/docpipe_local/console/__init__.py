"""docpipe console: the offline runtime in a browser (see README, "The web console")."""
