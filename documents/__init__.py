"""Printable documents in the Vietnamese administrative format (Decree 30/2020/NĐ-CP, Phụ lục I): the minutes of
a ballot count, a decision with its list, the bloc's pledge and its ranking, rendered from domain models to HTML,
PDF (WeasyPrint) and DOCX (python-docx), and the ranking as XLSX with a chart.

Pure rendering: no Temporal, no database, no clock (the moment a document is made and the audit anchor it
carries are arguments). The client layer (client/documents.py) loads the data and authorises the reader.
"""
