"""A form generated from a method's parameter schema (``regviewer.registration.base.Parameter``).

Every kind has its editor: numbers are spin boxes limited to the schema's range with the unit beside
them, choices a combo box (editable when the parameter accepts more than its listed choices, e.g. a
model file), booleans a check box, per-level lists a text field ("4, 2, 1") checked as you type.
Tooltips come from ``Parameter.help``. Expert parameters are folded away until "Show expert
parameters" is ticked. ``values()`` validates everything with the schema itself, so the form accepts
exactly what the CLI's ``--param`` accepts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from regviewer.registration.base import Parameter, ParameterError

INT_LIMIT = 2**31 - 1
INVALID_STYLE = "border: 1px solid #d04040;"


class _FloatSpinBox(QDoubleSpinBox):
    """A double spin box that shows numbers compactly (24, 0.2, 1e-05) and keeps full precision."""

    def __init__(self) -> None:
        super().__init__()
        self.setDecimals(10)

    def textFromValue(self, value: float) -> str:  # noqa: N802
        return f"{value:.6g}"

    def valueFromText(self, text: str) -> float:  # noqa: N802
        try:
            return float(text)
        except ValueError:
            return self.value()

    def validate(self, text: str, pos: int):  # noqa: ANN201
        stripped = text.strip()
        if stripped in ("", "-", "+", ".", "e", "-.", "+."):
            return QValidator.State.Intermediate, text, pos
        try:
            value = float(stripped)
        except ValueError:
            if stripped[-1:] in "eE+-":
                return QValidator.State.Intermediate, text, pos
            return QValidator.State.Invalid, text, pos
        if self.minimum() <= value <= self.maximum():
            return QValidator.State.Acceptable, text, pos
        return QValidator.State.Intermediate, text, pos


def _label(parameter: Parameter) -> str:
    return parameter.label or parameter.name.replace("_", " ").capitalize()


def _tooltip(parameter: Parameter) -> str:
    lines = [f"<b>{_label(parameter)}</b> <code>{parameter.name}</code>"]
    if parameter.help:
        lines.append(parameter.help)
    facts = []
    if parameter.minimum is not None or parameter.maximum is not None:
        low = "-inf" if parameter.minimum is None else f"{parameter.minimum:g}"
        high = "inf" if parameter.maximum is None else f"{parameter.maximum:g}"
        facts.append(f"range {low} .. {high}{' ' + parameter.unit if parameter.unit else ''}")
    if parameter.kind.endswith("_list"):
        facts.append("one value per resolution level, coarse to fine, separated by commas")
    facts.append(f"default {_text(parameter.default)}")
    lines.append("<i>" + "; ".join(facts) + "</i>")
    return "<p>" + "<br>".join(lines) + "</p>"


def _text(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return ", ".join(f"{item:g}" if isinstance(item, float) else str(item) for item in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _accepts_more_than_choices(parameter: Parameter) -> bool:
    """A choice whose class validates other values too (e.g. a model choice that also takes a file path)."""
    return type(parameter).validate is not Parameter.validate


class ParameterForm(QWidget):
    """Editors for a schema; ``changed`` after every edit. See the module docstring."""

    changed = Signal()

    def __init__(self, parameters: tuple[Parameter, ...] = (), parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("parameterForm")
        self.parameters: tuple[Parameter, ...] = ()
        self.editors: dict[str, QWidget] = {}
        self._rows: dict[str, tuple[QLabel, QWidget]] = {}
        self._form = QFormLayout()
        self._form.setContentsMargins(0, 0, 0, 0)
        self._form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.expert_toggle = QCheckBox("Show expert parameters")
        self.expert_toggle.setObjectName("expertToggle")
        self.expert_toggle.toggled.connect(self._show_rows)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self._form)
        layout.addWidget(self.expert_toggle)
        self.set_parameters(parameters)

    # ---- building -----------------------------------------------------------------------------
    def set_parameters(self, parameters: tuple[Parameter, ...], values: Mapping[str, Any] | None = None) -> None:
        """Rebuild the form for another schema, filled with ``values`` (defaults elsewhere)."""
        while self._form.rowCount():
            self._form.removeRow(0)
        self.parameters, self.editors, self._rows = tuple(parameters), {}, {}
        for parameter in self.parameters:
            editor = self._editor(parameter)
            editor.setObjectName(f"param_{parameter.name}")
            editor.setToolTip(_tooltip(parameter))
            self.editors[parameter.name] = editor
            field: QWidget = editor
            if parameter.unit and parameter.kind in ("float", "int", "int_list", "float_list"):
                field = QWidget()
                row = QHBoxLayout(field)
                row.setContentsMargins(0, 0, 0, 0)
                row.addWidget(editor, 1)
                row.addWidget(QLabel(parameter.unit))
            label = QLabel(_label(parameter) + ":")
            label.setToolTip(_tooltip(parameter))
            self._form.addRow(label, field)
            self._rows[parameter.name] = (label, field)
        self.set_values({parameter.name: parameter.default for parameter in self.parameters})
        if values:
            self.set_values(values)
        self.expert_toggle.setVisible(any(parameter.expert for parameter in self.parameters))
        self._show_rows()

    def _editor(self, parameter: Parameter) -> QWidget:
        if parameter.kind == "float":
            editor = _FloatSpinBox()
            editor.setRange(
                -1e12 if parameter.minimum is None else parameter.minimum,
                1e12 if parameter.maximum is None else parameter.maximum,
            )
            editor.setStepType(QDoubleSpinBox.StepType.AdaptiveDecimalStepType)
            editor.valueChanged.connect(self.changed)
            return editor
        if parameter.kind == "int":
            editor = QSpinBox()
            editor.setRange(
                -INT_LIMIT if parameter.minimum is None else max(int(parameter.minimum), -INT_LIMIT),
                INT_LIMIT if parameter.maximum is None else min(int(parameter.maximum), INT_LIMIT),
            )
            editor.setSpecialValueText(parameter.minimum_text)
            editor.valueChanged.connect(self.changed)
            return editor
        if parameter.kind == "bool":
            editor = QCheckBox()
            editor.toggled.connect(self.changed)
            return editor
        if parameter.kind == "choice":
            editor = QComboBox()
            editor.addItems(list(parameter.choices))
            if _accepts_more_than_choices(parameter):
                editor.setEditable(True)
                editor.editTextChanged.connect(lambda _text, p=parameter: self._check(p))
            editor.currentTextChanged.connect(self.changed)
            return editor
        editor = QLineEdit()
        editor.setPlaceholderText("one value per level, e.g. 4, 2, 1")
        editor.textChanged.connect(lambda _text, p=parameter: self._check(p))
        editor.textChanged.connect(self.changed)
        return editor

    def _show_rows(self, *_args) -> None:
        show_expert = self.expert_toggle.isChecked()
        for parameter in self.parameters:
            label, field = self._rows[parameter.name]
            visible = show_expert or not parameter.expert
            label.setVisible(visible)
            field.setVisible(visible)

    # ---- values -------------------------------------------------------------------------------
    def set_values(self, values: Mapping[str, Any]) -> None:
        """Show values (already valid for the schema); unknown names are ignored."""
        schema = {parameter.name: parameter for parameter in self.parameters}
        for name, value in values.items():
            editor = self.editors.get(name)
            if editor is None:
                continue
            editor.blockSignals(True)
            if isinstance(editor, QDoubleSpinBox | QSpinBox):
                editor.setValue(value)
            elif isinstance(editor, QCheckBox):
                editor.setChecked(bool(value))
            elif isinstance(editor, QComboBox):
                if editor.findText(str(value)) < 0 and editor.isEditable():
                    editor.setEditText(str(value))
                else:
                    editor.setCurrentIndex(max(editor.findText(str(value)), 0))
            else:
                editor.setText(_text(value))
            editor.blockSignals(False)
            self._check(schema[name])
        self.changed.emit()

    def raw_value(self, parameter: Parameter) -> Any:
        editor = self.editors[parameter.name]
        if isinstance(editor, QDoubleSpinBox | QSpinBox):
            return editor.value()
        if isinstance(editor, QCheckBox):
            return editor.isChecked()
        if isinstance(editor, QComboBox):
            return editor.currentText()
        return editor.text()

    def _check(self, parameter: Parameter) -> str:
        """Mark an invalid field (red border, reason in the tooltip); return the reason or ''."""
        editor = self.editors.get(parameter.name)
        if editor is None:
            return ""
        try:
            parameter.validate(self.raw_value(parameter))
            reason = ""
        except ParameterError as error:
            reason = str(error).removeprefix(f"{parameter.name}: ")
        editor.setStyleSheet(INVALID_STYLE if reason else "")
        editor.setToolTip(_tooltip(parameter) + (f"<p style='color:#d04040'>{reason}</p>" if reason else ""))
        return reason

    def problems(self) -> list[str]:
        """Why the form cannot be used, one line per invalid field (empty when everything is valid)."""
        return [f"{_label(p)}: {reason}" for p in self.parameters if (reason := self._check(p))]

    def values(self) -> dict[str, Any]:
        """Every value, validated by the schema; raises ParameterError naming the fields that are wrong."""
        problems = self.problems()
        if problems:
            raise ParameterError("; ".join(problems))
        return {parameter.name: parameter.validate(self.raw_value(parameter)) for parameter in self.parameters}
