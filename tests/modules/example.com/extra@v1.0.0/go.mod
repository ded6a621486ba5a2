module example.com/extra

go 1.22
