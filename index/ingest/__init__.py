"""Getting articles in: reading files and URLs, cleaning text, tokenizing, and splitting passages."""
