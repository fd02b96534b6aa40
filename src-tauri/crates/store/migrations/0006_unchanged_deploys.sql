-- A deploy that found nothing to change is marked by a flag on its part
-- (`unchanged`), not by the words of its message. Runs saved before say it
-- only in words: give their deploy part the flag.
UPDATE runs SET data = json_set(
    data,
    '$.parts[' || (SELECT p.key FROM json_each(runs.data, '$.parts') AS p
                   WHERE json_extract(p.value, '$.kind') = 'deploy'
                     AND json_extract(p.value, '$.message') = 'No changes') || '].unchanged',
    json('true'))
WHERE EXISTS (SELECT 1 FROM json_each(runs.data, '$.parts') AS p
              WHERE json_extract(p.value, '$.kind') = 'deploy'
                AND json_extract(p.value, '$.message') = 'No changes');
