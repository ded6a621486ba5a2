module example.com/privatessh

go 1.27

require (
	example.com/banner v0.1.0
	private.example/team/secret.git v1.0.0
)

require (
	example.com/color v1.0.0 // indirect
	example.com/greet v1.1.0 // indirect
)
