module example.com/ws/api

go 1.27

require example.com/greet v1.1.0
