"""Running a project's env.py: throwaway databases, the recorder of what each revision sends."""
