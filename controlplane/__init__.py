"""EduGov control plane: the engine that reads the operator's data folders."""

__version__ = "0.1.0"
