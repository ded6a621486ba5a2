module example.com/orgservice

go 1.27
