# The two commands of README.md. Both install what they need first.
PYTHON ?= python3

.PHONY: setup demo test bench-bmp bench-pesto

setup:
	bash .ci/install

demo: setup
	$(PYTHON) -m nxthdr demo

test: setup
	$(PYTHON) -m pytest -q -rs -p no:cacheprovider tests

bench-bmp: setup
	$(PYTHON) bench/bmp_pipeline.py

bench-pesto: setup
	$(PYTHON) bench/pesto_end_to_end.py --sfacctd
