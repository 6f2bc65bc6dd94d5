module go-hostile

go 1.24

require plugbox/guest v0.0.0

replace plugbox/guest => ../../guest-sdk/go
