// In no layer folder.
