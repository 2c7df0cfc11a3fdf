"""Process support shared by hazmon's long-running services: the heap and
open-files set-up of a process, private data folders, faults of background
work. It stands on the contract only.
"""
