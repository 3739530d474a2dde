from tripline.cli import main

main()
