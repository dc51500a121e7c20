"""Files and folders: scenario files, atomic writes, tables, manifests, results folders."""
