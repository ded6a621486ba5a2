module example.com/ws/lib

go 1.27

require example.com/color v1.0.0
