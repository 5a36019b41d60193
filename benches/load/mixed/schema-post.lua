-- The mixed row's schema POST: one body, valid against publish-report.schema.json.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"title":"Quarterly grid load","summary":"Grid load rose in the northern region during the reporting period.","tags":["grid","north"]}'
