module private.example/team/secret.git

go 1.22

require example.com/greet v1.1.0
