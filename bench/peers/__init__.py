"""hasession against each framework's peer session library, on real servers: ``make bench``.

``python -m bench.peers --help`` for the options; bench/README.md explains the method and the figures.
"""
