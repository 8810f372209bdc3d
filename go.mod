module certd

go 1.26.8
