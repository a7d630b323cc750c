"""The MPM models: prefork, worker and event, each one module behind ``base.MPMModel``.

``registry`` maps a name to its model; ``threaded`` holds what worker and event share.
"""
