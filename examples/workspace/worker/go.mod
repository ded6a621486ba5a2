module example.com/ws/worker

go 1.27
