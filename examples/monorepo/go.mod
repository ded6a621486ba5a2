module example.com/monorepo

go 1.27
