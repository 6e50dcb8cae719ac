"""One logic function per pipeline task; handlers in functions/ only parse, call and return."""
