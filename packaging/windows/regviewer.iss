; Inno Setup script: installs the one-folder bundle (packaging\dist\regviewer, from packaging\regviewer.spec)
; with a Start menu entry, an optional desktop icon, and file associations for images and session files.
; Build (Windows, Inno Setup 6):  iscc /DAppVersion=0.1.0 packaging\windows\regviewer.iss
; Output: packaging\dist\RegViewer-<version>-setup.exe

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#define AppName "RegViewer"
; The Start menu and the associations start regviewer-gui.exe, the windowed twin of regviewer.exe (no console).
#define AppExe "regviewer-gui.exe"
#define ProgIdImage "RegViewer.Image"
#define ProgIdSession "RegViewer.Session"

[Setup]
AppId={{5B0D7C61-9E0E-4C3A-9F55-6A3C1E2B7D10}
AppName={#AppName}
AppVersion={#AppVersion}
AppPublisher=RegViewer contributors
AppPublisherURL=https://github.com/regviewer/regviewer
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
LicenseFile=..\..\LICENSE
OutputDir=..\dist
OutputBaseFilename=RegViewer-{#AppVersion}-setup
SetupIconFile=..\..\regviewer\resources\icons\regviewer.ico
UninstallDisplayIcon={app}\{#AppExe}
Compression=lzma2/max
SolidCompression=yes
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
; Per-user install without administrator rights is offered; associations then go to HKCU.
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ChangesAssociations=yes
WizardStyle=modern

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked
Name: "associate"; Description: "Open .nii, .nii.gz, .nrrd and .mha images with RegViewer"; GroupDescription: "File types:"

[Files]
Source: "..\dist\regviewer\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs
Source: "..\..\regviewer\resources\icons\regviewer.ico"; DestDir: "{app}"

[Icons]
Name: "{group}\{#AppName}"; Filename: "{app}\{#AppExe}"; IconFilename: "{app}\regviewer.ico"
Name: "{group}\{#AppName} demo"; Filename: "{app}\{#AppExe}"; Parameters: "--demo"; IconFilename: "{app}\regviewer.ico"
Name: "{group}\Uninstall {#AppName}"; Filename: "{uninstallexe}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; IconFilename: "{app}\regviewer.ico"; Tasks: desktopicon

[Registry]
; Session files (.regviewer) always open with RegViewer.
Root: HKA; Subkey: "Software\Classes\.regviewer"; ValueType: string; ValueName: ""; ValueData: "{#ProgIdSession}"; Flags: uninsdeletevalue
Root: HKA; Subkey: "Software\Classes\{#ProgIdSession}"; ValueType: string; ValueName: ""; ValueData: "RegViewer session"; Flags: uninsdeletekey
Root: HKA; Subkey: "Software\Classes\{#ProgIdSession}\DefaultIcon"; ValueType: string; ValueName: ""; ValueData: "{app}\regviewer.ico"
Root: HKA; Subkey: "Software\Classes\{#ProgIdSession}\shell\open\command"; ValueType: string; ValueName: ""; ValueData: """{app}\{#AppExe}"" ""%1"""
; Images: RegViewer is offered in "Open with" and becomes the default when the task is chosen.
Root: HKA; Subkey: "Software\Classes\{#ProgIdImage}"; ValueType: string; ValueName: ""; ValueData: "Medical image"; Flags: uninsdeletekey
Root: HKA; Subkey: "Software\Classes\{#ProgIdImage}\DefaultIcon"; ValueType: string; ValueName: ""; ValueData: "{app}\regviewer.ico"
Root: HKA; Subkey: "Software\Classes\{#ProgIdImage}\shell\open\command"; ValueType: string; ValueName: ""; ValueData: """{app}\{#AppExe}"" ""%1"""
Root: HKA; Subkey: "Software\Classes\.nii\OpenWithProgids"; ValueType: string; ValueName: "{#ProgIdImage}"; ValueData: ""; Flags: uninsdeletevalue
Root: HKA; Subkey: "Software\Classes\.nii.gz\OpenWithProgids"; ValueType: string; ValueName: "{#ProgIdImage}"; ValueData: ""; Flags: uninsdeletevalue
Root: HKA; Subkey: "Software\Classes\.nrrd\OpenWithProgids"; ValueType: string; ValueName: "{#ProgIdImage}"; ValueData: ""; Flags: uninsdeletevalue
Root: HKA; Subkey: "Software\Classes\.mha\OpenWithProgids"; ValueType: string; ValueName: "{#ProgIdImage}"; ValueData: ""; Flags: uninsdeletevalue
Root: HKA; Subkey: "Software\Classes\.nii"; ValueType: string; ValueName: ""; ValueData: "{#ProgIdImage}"; Flags: uninsdeletevalue; Tasks: associate
Root: HKA; Subkey: "Software\Classes\.nii.gz"; ValueType: string; ValueName: ""; ValueData: "{#ProgIdImage}"; Flags: uninsdeletevalue; Tasks: associate
Root: HKA; Subkey: "Software\Classes\.nrrd"; ValueType: string; ValueName: ""; ValueData: "{#ProgIdImage}"; Flags: uninsdeletevalue; Tasks: associate
Root: HKA; Subkey: "Software\Classes\.mha"; ValueType: string; ValueName: ""; ValueData: "{#ProgIdImage}"; Flags: uninsdeletevalue; Tasks: associate

[Run]
Filename: "{app}\{#AppExe}"; Parameters: "--demo"; Description: "Open RegViewer on the sample pair"; Flags: nowait postinstall skipifsilent
