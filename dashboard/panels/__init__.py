"""The page's panels, one module each; ``dashboard/app.py`` lays them out."""
