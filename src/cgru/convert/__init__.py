"""Converters: translate other frameworks' GRUs to and from cgru's canonical layout
(PyTorch names, gate order r, z, n).  Each framework is imported only here."""
