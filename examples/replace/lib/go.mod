module example.com/rep/lib

go 1.27

require example.com/greet v1.0.0
