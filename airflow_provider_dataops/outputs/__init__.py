"""Where pipeline outputs land: download destinations and safe archive extraction."""
