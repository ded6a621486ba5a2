module example.com/banner

go 1.22

require example.com/color v1.0.0
