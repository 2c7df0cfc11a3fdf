"""Feed accounting: how well each gateway and each site delivered, over a time window,
and the monthly feed report an auditor hands to the bureau (docs/feeds.md).

- `accounting`: the pure computation (status points and hourly counts in, figures out);
- `calendar`: months and days in the plant's time zone (China Standard Time);
- `report` and `render`: the monthly report's content, as HTML (zh/en) or CSV;
- `reading`: what the API and the command line call: reads the store, then accounts.
"""
