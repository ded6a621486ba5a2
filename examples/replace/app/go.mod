module example.com/rep/app

go 1.27

require example.com/rep/lib v0.0.0

require example.com/greet v1.0.0 // indirect

replace example.com/rep/lib => ../lib
