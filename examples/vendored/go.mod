module example.com/vendored

go 1.27

require example.com/greet v1.0.0
