"""spineoutcome: pre-operative outcome prediction for cervical spine surgery.

Data flow (see DESIGN.md): data -> outcomes -> modeling -> evaluation -> Evidence ->
tracking / report / scoring. The data dictionary is the single source of truth for every
column name, unit and range.
"""

__version__ = "0.1.0"
