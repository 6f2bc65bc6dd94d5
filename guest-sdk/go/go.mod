module plugbox/guest

go 1.24
