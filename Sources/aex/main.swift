import AEXHost
print("aex")
