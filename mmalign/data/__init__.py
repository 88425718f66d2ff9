"""Records, readers, tag parsing, phrase-to-token mapping, media loading and collation."""
