module example.com/withdeps

go 1.27

require (
	example.com/banner v0.1.0
	example.com/greet v1.1.0
)

require example.com/color v1.0.0 // indirect
