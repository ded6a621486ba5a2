module example.com/privatetoken

go 1.27

require tokens.example/team/vault.git v1.0.0
