"""The dashboard's look: one small style sheet, shipped inside each panel so a panel shown alone looks the same.

Colours come from JupyterLab's theme variables where it has them, so the panels read well in light and dark themes.
"""

STYLE = """<style>
:root { --oms-up: #1a7f37; --oms-down: #cf222e; --oms-warn: #bf8700; }
.oms-panel { border: 1px solid var(--jp-border-color2, #d0d7de); border-radius: 6px; padding: 6px 8px;
             margin: 3px; box-sizing: border-box; }
.oms-title { font-size: 13px; letter-spacing: 0.04em; text-transform: uppercase;
             color: var(--jp-ui-font-color2, #57606a); }
.oms-table { border-collapse: collapse; width: 100%; font-size: 12px;
             font-family: var(--jp-code-font-family, monospace); }
.oms-table th { text-align: right; font-weight: 600; padding: 2px 6px;
                border-bottom: 1px solid var(--jp-border-color2, #d0d7de); }
.oms-table td { text-align: right; padding: 1px 6px; white-space: nowrap; }
.oms-table .l { text-align: left; }
.oms-table tr.oms-total td { border-top: 1px solid var(--jp-border-color2, #d0d7de); font-weight: 600; }
.oms-up { color: var(--oms-up); }
.oms-down { color: var(--oms-down); }
.oms-muted { color: var(--jp-ui-font-color3, #8c959f); }
.oms-row-text { font-family: var(--jp-code-font-family, monospace); font-size: 11.5px; white-space: pre; }
.oms-figure { font-family: var(--jp-code-font-family, monospace); font-size: 13px; margin-right: 14px; }
.oms-state { font-weight: 700; letter-spacing: 0.06em; padding: 0 12px; border-radius: 4px; text-align: center; }
.oms-bar { background: var(--jp-layout-color3, #eaeef2); height: 10px; border-radius: 3px; min-width: 60px; }
.oms-limit-bar { height: 100%; border-radius: 3px; }
.oms-limits-table td.l { white-space: normal; }
.oms-kill button, button.oms-kill { font-weight: 700; letter-spacing: 0.05em; }
</style>"""
