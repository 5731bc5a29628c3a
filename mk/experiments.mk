# Experiments: each of the guide's claims measured on the running stack,
# reported with numbers and charts under loadtest/reports (docs/experiments.md).

EXPERIMENT_FLAGS := $(if $(filter 1,$(SHORT)),-short)

.PHONY: experiment
experiment: images ## run one experiment on the stack (NAME=stateless|l4-vs-l7|cache|...; SHORT=1 for the CI length): loadtest/reports/NAME/report.md
	@[ -n "$(NAME)" ] || { echo "error: NAME is required, e.g. make experiment NAME=cache (make experiments runs them all)" >&2; exit 2; }
	go run ./loadtest/cmd/experiment -name $(NAME) $(EXPERIMENT_FLAGS)

.PHONY: experiments
experiments: images ## run every experiment (SHORT=1: each under a minute) and write loadtest/reports/README.md
	go run ./loadtest/cmd/experiment -name all $(EXPERIMENT_FLAGS)

.PHONY: test-experiments
test-experiments: images ## run every experiment in short mode on a stack of its own (scalelab-exptest, ports 24000-25090) and check each report (~10 min)
	go test -count=1 -tags experiments -timeout 45m -v -run TestEveryExperimentShort ./loadtest/cmd/experiment
