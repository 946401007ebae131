"""Results compared field by field and every difference judged: agree,
declared, triaged or unexpected."""
