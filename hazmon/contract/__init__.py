"""The shared vocabulary of hazmon: the site registry and its checks, the wire
contract (decoder, line protocol, topics, sequence bounds), settings and the
root of the error tree. It imports nothing of hazmon outside itself, so every
part (edge, simulators, services, command line) can stand on it.
"""
