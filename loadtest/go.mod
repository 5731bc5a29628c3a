module scalelab/loadtest

go 1.26.0
