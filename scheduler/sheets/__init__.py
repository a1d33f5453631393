"""Spreadsheets of agreements: the template handed out to local bodies, import, export.

The arrows run one way, from the bottom up:

- columns.py (the column table, columns.toml) and cells.py (a cell → text, date, kind, level);
- countries.py: country names → ISO codes;
- reading.py: a .xlsx, .xls, .ods or .csv file → raw rows, refusing a bad file or header;
- rows.py: raw rows → typed rows, every problem collected (scheduler.problems);
- importing.py: typed rows + the registry → a plan, written in one transaction, and its report;
- exporting.py: the registry → rows per working group, and CSV;
- workbook.py: the .xlsx layout of the template and the export;
- operations.py: what the CLI and the web app call.
"""
