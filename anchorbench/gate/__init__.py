"""`anchorbench ci`: a regression gate for projects that develop new architectures."""
