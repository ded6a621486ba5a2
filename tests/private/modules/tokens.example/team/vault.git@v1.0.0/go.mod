module tokens.example/team/vault.git

go 1.22
